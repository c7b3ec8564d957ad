// @ts-check
/** The UI's building blocks: preact with htm templates, and the hooks. */
import { h, render } from './vendor/preact.module.js';
import htm from './vendor/htm.module.js';

export { render };
export {
  useState, useEffect, useRef, useMemo, useCallback, useReducer,
} from './vendor/hooks.module.js';

/** Tagged template producing preact elements: html`<div class=${c}>…</div>`. */
export const html = htm.bind(h);
