// "Why alive?" (issue 15): a retainer path group of GET .../heapsnapshots/{sid}/retainers, as it reads in code,
// the same text `memscope why` prints (cli/cmd_heap.c):
//
//   audit (list, 1 external ref) -[i]-> AuditEntry      a labelled root (ms_root_name), a list index
//   Folder -.parent-> Folder                            a field (ms_type.ref_names)
//   dict ['cache'] -> Document                          a dict entry
//   (unreachable) Folder                                garbage the collector has not freed yet
//
// pathParts returns the pieces with a kind each ('root', 'type', 'edge', 'refs'), for styling; their texts joined
// are pathText. Nothing here becomes markup: the caller renders the pieces with textContent.

// An element edge ("[i]", "[1532]") or a field/reference ("parent" is sent as ".parent", "<ref 0>") reads
// `-EDGE->`; a dict key ("['cache']", "[<int>]") reads ` KEY ->`.
function edgeText(edge) {
  const e = String(edge ?? '?');
  if (e.startsWith('[') && !/^\[(i|\d+)\]$/.test(e)) return ` ${e} -> `;
  return ` -${e}-> `;
}

export function pathParts(group) {
  const root = group.root || {}, path = group.path || [];
  const type = root.type ?? (path[0] && path[0].type) ?? '?';
  const ext = Number(root.external_refs) || 0;
  const refs = ext > 0 ? `${ext} external ref${ext === 1 ? '' : 's'}` : '';
  const parts = [];
  if (root.name === '(unreachable)' && ext === 0) {
    parts.push(['(unreachable) ', 'root'], [type, 'type']); // garbage: hangs from the synthetic node directly
  } else if (root.name != null) {
    parts.push([root.name, 'root'], [' (', 'refs'], [type, 'type'], [(refs ? ', ' + refs : '') + ')', 'refs']);
  } else if (refs) {
    parts.push([type, 'type'], [` (${refs})`, 'refs']);
  } else {
    parts.push([type, 'type']);
  }
  for (let i = 0; i + 1 < path.length; i++) {
    parts.push([edgeText(path[i].edge), 'edge'], [path[i + 1].type ?? '?', 'type']);
  }
  return parts;
}

export function pathText(group) {
  return pathParts(group).map((p) => p[0]).join('');
}
