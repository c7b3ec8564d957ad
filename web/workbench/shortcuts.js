// @ts-check
/**
 * The workbench's keyboard shortcuts, as CVAT's: D/F previous/next frame, C/V with a
 * step of 10, N draw again / finish, Del delete, Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y) undo /
 * redo, Ctrl+C / Ctrl+V copy / paste, Ctrl+S save, Esc cancel, F1 or ? help.
 */

/** The help table. */
export const SHORTCUTS = [
  { keys: 'F', text: 'Next frame' },
  { keys: 'D', text: 'Previous frame' },
  { keys: 'V', text: 'Forward 10 frames' },
  { keys: 'C', text: 'Back 10 frames' },
  { keys: 'Home / End', text: 'First / last frame of the job' },
  { keys: 'N', text: 'Draw again with the last tool; while drawing: finish the shape' },
  { keys: 'Enter', text: 'Finish a polygon, polyline or points' },
  { keys: 'Esc', text: 'Cancel drawing / clear the selection' },
  { keys: 'Del', text: 'Delete the selected objects' },
  { keys: 'Ctrl+Z', text: 'Undo' },
  { keys: 'Ctrl+Shift+Z, Ctrl+Y', text: 'Redo' },
  { keys: 'Ctrl+C / Ctrl+V', text: 'Copy the selected object / paste it on this frame' },
  { keys: 'Ctrl+S', text: 'Save the job' },
  { keys: 'G / Shift+G', text: 'Group / ungroup the selected objects (Ctrl+click selects several)' },
  { keys: 'L', text: 'Lock / unlock the selected object' },
  { keys: 'H', text: 'Hide / show the selected object' },
  { keys: 'Q', text: 'Toggle occluded' },
  { keys: '+ / -', text: 'Bring forward / send backward' },
  { keys: 'Double click', text: 'Fit the image (on empty space)' },
  { keys: 'F1 or ?', text: 'This help' },
];

/**
 * The action of a key event, or null.
 * @param {{key: string, code?: string, ctrlKey?: boolean, metaKey?: boolean, shiftKey?: boolean, altKey?: boolean}} e
 * @returns {string | null}
 */
export function matchShortcut(e) {
  const ctrl = !!(e.ctrlKey || e.metaKey);
  const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (ctrl) {
    if (k === 's') return 'save';
    if (k === 'z') return e.shiftKey ? 'redo' : 'undo';
    if (k === 'y') return 'redo';
    if (k === 'c') return 'copy';
    if (k === 'v') return 'paste';
    return null;
  }
  if (e.altKey) return null;
  switch (k) {
    case 'f': return 'next';
    case 'd': return 'prev';
    case 'v': return 'next10';
    case 'c': return 'prev10';
    case 'Home': return 'first';
    case 'End': return 'last';
    case 'n': return 'new';
    case 'Enter': return 'finish';
    case 'Escape': return 'cancel';
    case 'Delete': return 'delete';
    case 'g': return e.shiftKey ? 'ungroup' : 'group';
    case 'l': return 'lock';
    case 'h': return 'hide';
    case 'q': return 'occluded';
    case '+': case '=': return 'front';
    case '-': return 'back';
    case 'F1': case '?': return 'help';
    default: return null;
  }
}
