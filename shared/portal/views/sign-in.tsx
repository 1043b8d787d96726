import type { FC } from 'hono/jsx';
import { Alert, Notice, TextField } from './components.tsx';
import { Layout } from './layout.tsx';

export const SignInPage: FC<{ next: string; error?: string | undefined; signedOut?: boolean }> = ({ next, error, signedOut }) => (
  <Layout title="Sign in" viewer={null}>
    {signedOut ? (
      <Notice>
        <p>You are signed out.</p>
      </Notice>
    ) : null}
    <Alert messages={error ? [error] : []} />
    <p>Paste the API key you were given. The portal keeps a session for 12 hours; your key is never stored in the browser.</p>
    <form method="post" action="/sign-in" class="stack">
      <input type="hidden" name="next" value={next} />
      <TextField id="api-key" name="apiKey" label="API key" type="password" value="" autocomplete="off" hint="Starts with gm_live_, gm_fin_, gm_op_ or gm_meter_." error={error} />
      <div class="buttons">
        <button type="submit">Sign in</button>
      </div>
    </form>
  </Layout>
);
