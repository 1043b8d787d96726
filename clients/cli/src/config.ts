/**
 * Where `gpum login` keeps the API URL and key: `config.json` in the user's config directory (env-paths:
 * `$XDG_CONFIG_HOME/gpum` or `~/.config/gpum` on Linux, `~/Library/Preferences/gpum` on macOS,
 * `%APPDATA%\gpum\Config` on Windows), readable by the user only (0600, directory 0700).
 * `GPU_MARKET_API_URL` and `GPU_MARKET_API_KEY` override what is stored.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import envPaths from 'env-paths';

export interface StoredLogin {
  apiUrl: string;
  apiKey: string;
}

export const DEFAULT_API_URL = 'http://localhost:3000';

export const configFile = (): string => join(envPaths('gpum', { suffix: '' }).config, 'config.json');

export function readLogin(): Partial<StoredLogin> {
  try {
    const parsed = JSON.parse(readFileSync(configFile(), 'utf8')) as Partial<StoredLogin>;
    return {
      ...(typeof parsed.apiUrl === 'string' ? { apiUrl: parsed.apiUrl } : {}),
      ...(typeof parsed.apiKey === 'string' ? { apiKey: parsed.apiKey } : {}),
    };
  } catch {
    return {};
  }
}

export function writeLogin(login: StoredLogin): string {
  const file = configFile();
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // writeFileSync's mode applies only when it creates the file
  return file;
}

export function removeLogin(): void {
  rmSync(configFile(), { force: true });
}

/** The login in effect: environment first, then the stored one, then the local default URL. */
export function effectiveLogin(env: NodeJS.ProcessEnv = process.env): { apiUrl: string; apiKey: string | undefined; source: 'environment' | 'config' | 'none' } {
  const stored = readLogin();
  const apiUrl = env.GPU_MARKET_API_URL || stored.apiUrl || DEFAULT_API_URL;
  const apiKey = env.GPU_MARKET_API_KEY || stored.apiKey;
  const source = env.GPU_MARKET_API_KEY ? 'environment' : stored.apiKey ? 'config' : 'none';
  return { apiUrl, apiKey, source };
}
