// @ts-check
/**
 * The labels editor (§6.2): a constructor (labels, attributes of every input type)
 * and a raw JSON view of the same array, as in CVAT's task creation form.
 */
import { html, useState } from '../lib.js';
import { useId } from './common.js';

export const INPUT_TYPES = ['select', 'radio', 'checkbox', 'number', 'text'];

/** @typedef {{name: string, mutable: boolean, input_type: string, default_value: string, values: string[], id?: number, _key?: number}} Attribute */
/** @typedef {{name: string, attributes: Attribute[], id?: number, _key?: number}} Label */

let keys = 0;
/** A stable key for list rendering (never sent to the API). */
export const newKey = () => ++keys;

/** An empty label. @returns {Label} */
export const newLabel = (name = '') => ({ name, attributes: [], _key: newKey() });

/** A fresh attribute of `type` with the values the UI gives it. @param {string} type @param {string} [name] @returns {Attribute} */
export function newAttribute(type = 'select', name = '') {
  /** @type {Record<string, string[]>} */
  const values = { select: [], radio: [], checkbox: ['false'], number: ['0', '100', '1'], text: [''] };
  const v = values[type] || [];
  return { name, mutable: false, input_type: type, values: v, default_value: v[0] || '', _key: newKey() };
}

/**
 * Normalises a labels array read from JSON; throws a readable Error when malformed.
 * @param {any} raw
 * @returns {Label[]}
 */
export function normalizeLabels(raw) {
  if (!Array.isArray(raw)) throw new Error('The labels must be a JSON array.');
  return raw.map((l, i) => {
    if (!l || typeof l !== 'object' || typeof l.name !== 'string') {
      throw new Error(`Label ${i + 1}: "name" must be a string.`);
    }
    const attrs = l.attributes == null ? [] : l.attributes;
    if (!Array.isArray(attrs)) throw new Error(`Label "${l.name}": "attributes" must be an array.`);
    return {
      name: l.name,
      _key: newKey(),
      attributes: attrs.map((a, j) => {
        if (!a || typeof a !== 'object' || typeof a.name !== 'string') {
          throw new Error(`Label "${l.name}", attribute ${j + 1}: "name" must be a string.`);
        }
        const type = a.input_type ?? 'select';
        if (!INPUT_TYPES.includes(type)) {
          throw new Error(`Attribute "${a.name}": input_type must be one of ${INPUT_TYPES.join(', ')}.`);
        }
        const values = Array.isArray(a.values) ? a.values.map(String) : [];
        return {
          name: a.name,
          mutable: a.mutable === true || a.mutable === 'true',
          input_type: type,
          values,
          default_value: a.default_value != null ? String(a.default_value) : (values[0] ?? ''),
          _key: newKey(),
        };
      }),
    };
  });
}

/**
 * Problems that would make the server reject the labels, or '' when fine.
 * @param {Label[]} labels
 * @param {string[]} [taken]  names already used (existing labels of a task)
 */
export function validateLabels(labels, taken = []) {
  const seen = new Set(taken);
  for (const l of labels) {
    const name = l.name.trim();
    if (!name) return 'Every label needs a name.';
    if (name.length > 64) return `Label "${name}": the name is longer than 64 characters.`;
    if (seen.has(name)) return `The label name "${name}" is used twice.`;
    seen.add(name);
    const anames = new Set();
    for (const a of l.attributes) {
      const an = a.name.trim();
      if (!an) return `Label "${name}": every attribute needs a name.`;
      if (anames.has(an)) return `Label "${name}": the attribute name "${an}" is used twice.`;
      anames.add(an);
      if ((a.input_type === 'select' || a.input_type === 'radio') && !a.values.length) {
        return `Attribute "${an}" of "${name}": give at least one value.`;
      }
      if (a.input_type === 'number') {
        const [min, max, step] = a.values.map(Number);
        if (a.values.length !== 3 || [min, max, step].some((x) => Number.isNaN(x))) {
          return `Attribute "${an}" of "${name}": min, max and step must be numbers.`;
        }
        if (!(min < max)) return `Attribute "${an}" of "${name}": min must be less than max.`;
        if (!(step > 0 && step <= max - min)) {
          return `Attribute "${an}" of "${name}": step must be positive and at most max − min.`;
        }
      }
    }
  }
  return '';
}

/** The labels as sent to the API (trimmed names, no UI leftovers). @param {Label[]} labels */
export function labelsPayload(labels) {
  return labels.map((l) => ({
    name: l.name.trim(),
    attributes: l.attributes.map((a) => ({
      name: a.name.trim(),
      mutable: a.mutable,
      input_type: a.input_type,
      default_value: a.default_value,
      values: a.values,
    })),
  }));
}

/**
 * A comma-separated list input keeping its own text while typing.
 * @param {{id: string, values: string[], onChange: (v: string[]) => void}} props
 */
function ValuesInput({ id, values, onChange }) {
  const [text, setText] = useState(values.join(', '));
  return html`<input id=${id} value=${text} placeholder="e.g. red, green, blue"
    onInput=${(/** @type {any} */ e) => {
      setText(e.target.value);
      onChange(e.target.value.split(',').map((/** @type {string} */ s) => s.trim()).filter(Boolean));
    }} />`;
}

/**
 * One attribute row.
 * @param {{attr: Attribute, onChange: (a: Attribute) => void, onRemove: () => void, index: number}} props
 */
function AttributeEditor({ attr, onChange, onRemove, index }) {
  const id = useId('attr');
  /** @param {Partial<Attribute>} p */
  const set = (p) => onChange({ ...attr, ...p });
  const type = attr.input_type;
  let valuesUi;
  if (type === 'select' || type === 'radio') {
    valuesUi = html`
      <div class="attr-cell grow">
        <label for=${`${id}-values`}>Values</label>
        <${ValuesInput} key=${type} id=${`${id}-values`} values=${attr.values}
          onChange=${(/** @type {string[]} */ v) => set({
            values: v, default_value: v.includes(attr.default_value) ? attr.default_value : (v[0] || ''),
          })} />
      </div>
      <div class="attr-cell">
        <label for=${`${id}-default`}>Default</label>
        <select id=${`${id}-default`} value=${attr.default_value}
          onChange=${(/** @type {any} */ e) => set({ default_value: e.target.value })}>
          ${attr.values.map((v) => html`<option value=${v}>${v}</option>`)}
        </select>
      </div>`;
  } else if (type === 'checkbox') {
    valuesUi = html`
      <div class="attr-cell">
        <label for=${`${id}-default`}>Default</label>
        <select id=${`${id}-default`} value=${attr.values[0] === 'true' ? 'true' : 'false'}
          onChange=${(/** @type {any} */ e) => set({ values: [e.target.value], default_value: e.target.value })}>
          <option value="false">false</option>
          <option value="true">true</option>
        </select>
      </div>`;
  } else if (type === 'number') {
    const [min = '', max = '', step = ''] = attr.values;
    /** @param {number} i @param {string} v */
    const setN = (i, v) => {
      const vals = [min, max, step];
      vals[i] = v;
      set({ values: vals, default_value: i === 0 ? v : attr.default_value });
    };
    valuesUi = html`
      ${['Min', 'Max', 'Step'].map((n, i) => html`
        <div class="attr-cell num">
          <label for=${`${id}-${n}`}>${n}</label>
          <input id=${`${id}-${n}`} type="number" value=${[min, max, step][i]}
            onInput=${(/** @type {any} */ e) => setN(i, e.target.value)} />
        </div>`)}
      <div class="attr-cell num">
        <label for=${`${id}-default`}>Default</label>
        <input id=${`${id}-default`} type="number" value=${attr.default_value}
          onInput=${(/** @type {any} */ e) => set({ default_value: e.target.value })} />
      </div>`;
  } else {
    valuesUi = html`
      <div class="attr-cell grow">
        <label for=${`${id}-default`}>Default text</label>
        <input id=${`${id}-default`} value=${attr.default_value}
          onInput=${(/** @type {any} */ e) => set({ values: [e.target.value], default_value: e.target.value })} />
      </div>`;
  }
  return html`
    <div class="attr-row" data-testid="attribute-editor" data-index=${index}>
      <div class="attr-cell">
        <label for=${`${id}-name`}>Attribute name</label>
        <input id=${`${id}-name`} value=${attr.name}
          onInput=${(/** @type {any} */ e) => set({ name: e.target.value })} />
      </div>
      <div class="attr-cell">
        <label for=${`${id}-type`}>Input type</label>
        <select id=${`${id}-type`} value=${type}
          onChange=${(/** @type {any} */ e) => onChange({ ...newAttribute(e.target.value, attr.name), mutable: attr.mutable, _key: attr._key })}>
          ${INPUT_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
        </select>
      </div>
      ${valuesUi}
      <div class="attr-cell check">
        <label><input type="checkbox" checked=${attr.mutable}
          onChange=${(/** @type {any} */ e) => set({ mutable: e.target.checked })} /> Mutable</label>
      </div>
      <button type="button" class="link danger remove" onClick=${onRemove}
        aria-label="Remove attribute" title="Remove attribute">✕</button>
    </div>`;
}

/**
 * One label card.
 * @param {{label: Label, onChange: (l: Label) => void, onRemove: () => void, index: number}} props
 */
function LabelEditor({ label, onChange, onRemove, index }) {
  const id = useId('label');
  return html`
    <div class="label-card" data-testid="label-editor" data-index=${index}>
      <div class="label-head">
        <label for=${id}>Label name</label>
        <input id=${id} value=${label.name} placeholder="e.g. car"
          onInput=${(/** @type {any} */ e) => onChange({ ...label, name: e.target.value })} />
        <button type="button" onClick=${() => onChange({ ...label, attributes: [...label.attributes, newAttribute()] })}>
          + Add attribute
        </button>
        <button type="button" class="danger" onClick=${onRemove}>Remove label</button>
      </div>
      ${label.attributes.map((a, i) => html`
        <${AttributeEditor} key=${a._key ?? i} attr=${a} index=${i}
          onChange=${(/** @type {Attribute} */ na) => onChange({
            ...label, attributes: label.attributes.map((x, j) => (j === i ? na : x)),
          })}
          onRemove=${() => onChange({ ...label, attributes: label.attributes.filter((_, j) => j !== i) })} />`)}
    </div>`;
}

/**
 * The editor: constructor and raw JSON tabs over one labels array.
 * @param {{labels: Label[], onChange: (l: Label[]) => void, error?: string}} props
 */
export function LabelsEditor({ labels, onChange, error }) {
  const [raw, setRaw] = useState(/** @type {string | null} */ (null));
  const [rawError, setRawError] = useState('');
  const [version, setVersion] = useState(0);
  const rawId = useId('raw');

  const openRaw = () => { setRaw(JSON.stringify(labelsPayload(labels), null, 2)); setRawError(''); };
  const applyRaw = () => {
    try {
      const parsed = normalizeLabels(JSON.parse(raw || '[]'));
      onChange(parsed);
      setVersion(version + 1);
      setRaw(null);
      setRawError('');
    } catch (e) {
      setRawError(e instanceof SyntaxError ? `Invalid JSON: ${e.message}` : String(e.message || e));
    }
  };

  return html`
    <div class="labels-editor" data-testid="labels-editor">
      <div class="tabs small">
        <button type="button" class=${raw === null ? 'active' : ''} onClick=${() => raw !== null && applyRaw()}>Constructor</button>
        <button type="button" class=${raw !== null ? 'active' : ''} onClick=${() => raw === null && openRaw()}>Raw</button>
      </div>
      ${raw !== null ? html`
        <div class="raw-labels">
          <label for=${rawId}>Labels JSON</label>
          <textarea id=${rawId} rows="14" spellcheck="false" value=${raw}
            onInput=${(/** @type {any} */ e) => setRaw(e.target.value)}></textarea>
          ${rawError ? html`<div class="error" role="alert">${rawError}</div>` : null}
          <div class="actions">
            <button type="button" class="primary" onClick=${applyRaw}>Apply JSON</button>
            <button type="button" onClick=${() => { setRaw(null); setRawError(''); }}>Discard changes</button>
          </div>
        </div>` : html`
        <div class="labels-list" key=${version}>
          ${labels.length === 0 ? html`<div class="muted empty-labels">No labels yet.</div>` : null}
          ${labels.map((l, i) => html`
            <${LabelEditor} key=${l._key ?? i} label=${l} index=${i}
              onChange=${(/** @type {Label} */ nl) => onChange(labels.map((x, j) => (j === i ? nl : x)))}
              onRemove=${() => onChange(labels.filter((_, j) => j !== i))} />`)}
          <button type="button" onClick=${() => onChange([...labels, newLabel()])}>+ Add label</button>
        </div>`}
      ${error ? html`<div class="error field-error" role="alert">${error}</div>` : null}
    </div>`;
}
