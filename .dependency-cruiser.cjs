/**
 * The layering of docs/architecture-notes.md, checked by `npm run check:deps` (dependency-cruiser).
 * Type-only imports count: a cycle through types is still two areas that cannot change apart.
 * An "area" is a folder directly under src/ (plus machines/).
 */
const service = '^(src|machines)/';

/** A dependency that must not exist: from a module matching `from` to one matching `to`. */
function forbid(name, comment, from, to) {
  return { name, severity: 'error', comment, from, to };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      ...forbid('no-area-cycles', 'Areas form a directed graph: two areas that import each other are one area in disguise.', {}, { circular: true }),
      scope: 'folder',
    },
    forbid(
      'machines-pure',
      'machines/ is a pure definition: it imports xstate and the contracts leaf, nothing else of the service.',
      { path: '^machines/' },
      { pathNot: ['^machines/', '^src/contracts/', '^node_modules/xstate/'] },
    ),
    forbid(
      'contracts-leaf',
      'src/contracts is the leaf every area may depend on; it depends on no other area.',
      { path: '^src/contracts/' },
      { path: service, pathNot: '^src/contracts/' },
    ),
    forbid(
      'adapters-not-on-jobs',
      'db, events, files, http and commands take the job vocabulary from src/contracts, never from the core.',
      { path: '^src/(db|events|files|http|commands)/' },
      { path: '^src/jobs/' },
    ),
    forbid(
      'comfy-standalone',
      'The ComfyUI client knows ComfyUI, not our jobs, storage, events or the simulator.',
      { path: '^src/comfy/' },
      { path: '^src/(jobs|db|events|simulator)/' },
    ),
    forbid(
      'simulator-standalone',
      'The simulator stands in for ComfyUI: it imports nothing of the service it is tested against.',
      { path: '^src/simulator/' },
      { path: service, pathNot: '^src/simulator/' },
    ),
    forbid('db-not-jobs', 'Storage implements the store port of src/contracts; it never reaches into the job core.', { path: '^src/db/' }, { path: '^src/jobs/' }),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
  },
};
