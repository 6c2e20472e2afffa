// Cycle makers (issue 16): a group of GET .../gc/cycles or of POST .../gc's "groups", as the table shows it and
// `memscope gc APP --cycles` prints it (cli/cmd_gc.c): who made the cycles (the allocation site of their objects
// while the app traces, else their types, "Folder×2+Document"), how many cycles, objects, bytes, and the types of
// their objects. Nothing here becomes markup: the caller renders the texts with textContent.
import { bytes, count } from './format.js';

// "Folder 612, list 612": the group's types, as the app listed them (most objects first).
export function typesText(types) {
  return Object.entries(types || {}).map(([name, n]) => `${name} ${count(n)}`).join(', ');
}

// The cells of one row: [text, is-number] each.
export function cycleCells(g) {
  return [
    [g.other ? '(other)' : String(g.key ?? g.site ?? '?'), false],
    [count(g.cycles), true],
    [count(g.objects), true],
    [bytes(g.bytes), true],
    [typesText(g.types), false],
  ];
}
