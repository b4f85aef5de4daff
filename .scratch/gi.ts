import { getBackend } from '../src/backend/index.js';
const b = getBackend('native');
console.log(JSON.stringify(b.gemmInfo()), process.env.OPENBLAS_CORETYPE);
