/** Small building blocks shared by the portal's pages. */
import type { Child, FC } from 'hono/jsx';
import type { Catalog } from '#domain/catalog.ts';
import { formatMoney, type Money } from '#domain/money.ts';
import { CSRF_FIELD } from '../session.ts';
import { formatUtc, poolName } from '../format.ts';

export const MoneyText: FC<{ value: Money | null | undefined }> = ({ value }) => <>{value ? formatMoney(value) : '—'}</>;

export const Time: FC<{ iso: string | null | undefined }> = ({ iso }) => (iso ? <time datetime={iso}>{formatUtc(iso)}</time> : <>—</>);

export const CsrfField: FC<{ token: string }> = ({ token }) => <input type="hidden" name={CSRF_FIELD} value={token} />;

/** A visible error the screen reader announces; `messages` name the field they are about. */
export const Alert: FC<{ title?: string; messages: string[] }> = ({ title, messages }) =>
  messages.length === 0 ? null : (
    <div class="alert" role="alert" id="form-errors">
      {messages.length === 1 && !title ? (
        <p>{messages[0]}</p>
      ) : (
        <>
          <p>{title ?? 'Please fix the following:'}</p>
          <ul>
            {messages.map((m) => (
              <li>{m}</li>
            ))}
          </ul>
        </>
      )}
    </div>
  );

export const Notice: FC<{ children?: Child }> = ({ children }) => (
  <div class="notice" role="status">
    {children}
  </div>
);

/** A page's outcome above its content: the alerts of a refused form, then the notice of what was done. */
export const Outcome: FC<{ alerts: string[]; notice: string | null }> = ({ alerts, notice }) => (
  <>
    <Alert messages={alerts} />
    {notice ? (
      <Notice>
        <p>{notice}</p>
      </Notice>
    ) : null}
  </>
);

/** The label, hint and error of one control, tied to it with aria-describedby. */
const FieldFrame: FC<{ id: string; label: string; hint?: string | undefined; error?: string | undefined; errorClass?: string; children?: Child }> = (p) => (
  <div class="field">
    <label for={p.id}>{p.label}</label>
    {p.children}
    {p.hint ? (
      <p class="hint" id={`${p.id}-hint`}>
        {p.hint}
      </p>
    ) : null}
    {p.error ? (
      <p class={p.errorClass ?? 'field-error'} id={`${p.id}-error`}>
        {`Error: ${p.error}`}
      </p>
    ) : null}
  </div>
);

const describedBy = (p: { id: string; hint?: string | undefined; error?: string | undefined }) =>
  [p.hint ? `${p.id}-hint` : '', p.error ? `${p.id}-error` : ''].filter(Boolean).join(' ') || undefined;

/** A labelled text field; its hint and error are tied to it with aria-describedby. */
export const TextField: FC<{
  id: string;
  name: string;
  label: string;
  value: string;
  hint?: string;
  error?: string | undefined;
  list?: string;
  inputmode?: 'numeric' | 'text';
  autocomplete?: string;
  type?: 'text' | 'password';
  placeholder?: string;
}> = (p) => (
  <FieldFrame id={p.id} label={p.label} hint={p.hint} error={p.error} errorClass="hint">
    <input
      type={p.type ?? 'text'}
      id={p.id}
      name={p.name}
      value={p.value}
      list={p.list}
      inputmode={p.inputmode}
      autocomplete={p.autocomplete ?? 'off'}
      placeholder={p.placeholder}
      spellcheck={false}
      aria-describedby={describedBy(p)}
      aria-invalid={p.error ? 'true' : undefined}
    />
  </FieldFrame>
);

/** A table's column headings; `{ num: text }` heads a right-aligned number column. */
export const TableHead: FC<{ columns: (string | { num: string })[] }> = ({ columns }) => (
  <thead>
    <tr>
      {columns.map((c) =>
        typeof c === 'string' ? (
          <th scope="col">{c}</th>
        ) : (
          <th scope="col" class="num">
            {c.num}
          </th>
        ),
      )}
    </tr>
  </thead>
);

/**
 * A quote's or reservation's pool, GPUs and window, as `<dt>`/`<dd>` pairs inside a `dl.facts`;
 * `openEnd` is what a window without an end says, `after` follows the window.
 */
export const BookingFacts: FC<{
  catalog: Catalog;
  booking: { site: string; gpuType: string; gpus: number; start: string; end: string | null };
  openEnd?: string;
  after?: string;
}> = ({ catalog, booking, openEnd, after }) => (
  <>
    <dt>Pool</dt>
    <dd>{poolName(catalog, booking)}</dd>
    <dt>GPUs</dt>
    <dd>{String(booking.gpus)}</dd>
    <dt>Window</dt>
    <dd>
      <Time iso={booking.start} />
      {' to '}
      {booking.end === null && openEnd !== undefined ? openEnd : <Time iso={booking.end} />}
      {after}
    </dd>
  </>
);

export const StatusBadge: FC<{ status: string }> = ({ status }) => <span class="status">{status}</span>;

/** A one-button form posting to `action` with the CSRF token (plain HTML, no script). */
export const PostButton: FC<{ action: string; csrf: string; label: string; className?: string; hidden?: Record<string, string> }> = (p) => (
  <form method="post" action={p.action} class="inline">
    <CsrfField token={p.csrf} />
    {Object.entries(p.hidden ?? {}).map(([name, value]) => (
      <input type="hidden" name={name} value={value} />
    ))}
    <button type="submit" class={p.className}>
      {p.label}
    </button>
  </form>
);

export interface SelectOption {
  value: string;
  text: string;
  /** Extra data for the page's script, e.g. a pool's GPU step. */
  data?: Record<string, string>;
}

/** A labelled select; a blank first option asks to choose when nothing is chosen yet. */
export const SelectField: FC<{ id: string; name: string; label: string; value: string; options: SelectOption[]; placeholder?: string; hint?: string | undefined; error?: string | undefined }> = (p) => (
  <FieldFrame id={p.id} label={p.label} hint={p.hint} error={p.error}>
    <select id={p.id} name={p.name} aria-describedby={describedBy(p)} aria-invalid={p.error ? 'true' : undefined}>
      {p.placeholder !== undefined ? (
        <option value="" selected={!p.options.some((o) => o.value === p.value)}>
          {p.placeholder}
        </option>
      ) : null}
      {p.options.map((o) => (
        <option value={o.value} selected={o.value === p.value} {...Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [`data-${k}`, v]))}>
          {o.text}
        </option>
      ))}
    </select>
  </FieldFrame>
);

/** A labelled input of another type (number stepper, datetime-local picker). */
export const InputField: FC<{
  id: string;
  name: string;
  label: string;
  value: string;
  type: 'number' | 'datetime-local' | 'text' | 'month' | 'url';
  min?: string | undefined;
  max?: string | undefined;
  step?: string | undefined;
  inputmode?: 'numeric' | 'text';
  placeholder?: string;
  hint?: string | undefined;
  error?: string | undefined;
}> = (p) => (
  <FieldFrame id={p.id} label={p.label} hint={p.hint} error={p.error}>
    <input
      type={p.type}
      id={p.id}
      name={p.name}
      value={p.value}
      min={p.min}
      max={p.max}
      step={p.step}
      inputmode={p.inputmode}
      placeholder={p.placeholder}
      autocomplete="off"
      aria-describedby={describedBy(p)}
      aria-invalid={p.error ? 'true' : undefined}
    />
  </FieldFrame>
);
