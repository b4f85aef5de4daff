// Builds the native addon with node-gyp: configure only when needed, then an incremental
// build, so rebuilding never deletes a working addon out from under running processes.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';

function findNodeGyp() {
  // npm runs scripts with its bundled node-gyp on PATH (npm_config_node_gyp points at it).
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return [process.execPath, bundled];
  return ['node-gyp'];
}

// The headers of the running node when they are installed beside it (Debian's nodejs puts them
// in /usr/include/node): node-gyp then never tries to download them. npm passes its own nodedir.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node.h')) ? [`--nodedir=${prefix}`] : [];
}

function run(args) {
  const [cmd, ...pre] = findNodeGyp();
  const r = spawnSync(cmd, [...pre, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const makefile = join('build', 'Makefile');
const needsConfigure = !existsSync(makefile) || statSync('binding.gyp').mtimeMs > statSync(makefile).mtimeMs;
if (needsConfigure) run(['configure', ...nodedirArgs()]);
run(['build']);
