// The rule cases of a fbadmin cases file (given as JSON on stdin, with the
// rules file and the emulator's host and project as arguments), checked
// with @firebase/rules-unit-testing as a JavaScript rules unit test would:
// fixtures written with rules disabled, then each case as its user, write
// cases on freshly seeded fixtures. Prints one JSON line: cases, mismatches
// and the seconds the cases took.
const fs = require('fs');
const { initializeTestEnvironment, assertSucceeds, assertFails } = require('@firebase/rules-unit-testing');
const { doc, collection, getDoc, getDocs, setDoc, updateDoc, deleteDoc, Timestamp } = require('firebase/firestore');

function value(v) {
  if (Array.isArray(v)) return v.map(value);
  if (v && typeof v === 'object') {
    if ('$timestamp' in v) return Timestamp.fromDate(new Date(v.$timestamp));
    if ('$int' in v) return Number(v.$int);
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = value(x);
    return out;
  }
  return v;
}

async function main() {
  const [rulesFile, hostPort, projectId] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
  const [host, port] = hostPort.split(':');
  const env = await initializeTestEnvironment({
    projectId,
    firestore: { host, port: Number(port), rules: fs.readFileSync(rulesFile, 'utf8') },
  });
  const seed = async () => {
    await env.clearFirestore();
    await env.withSecurityRulesDisabled(async (ctx) => {
      for (const [path, data] of Object.entries(spec.fixtures || {})) {
        await setDoc(doc(ctx.firestore(), path), value(data));
      }
    });
  };
  const t0 = process.hrtime.bigint();
  await seed();
  let mismatches = 0;
  for (const c of spec.cases) {
    const u = c.as ? spec.users[c.as] : null;
    const db = u ? env.authenticatedContext(u.uid, u.claims || {}).firestore() : env.unauthenticatedContext().firestore();
    const write = ['create', 'update', 'delete'].includes(c.op);
    let p;
    switch (c.op) {
      case 'get': p = getDoc(doc(db, c.path)); break;
      case 'list': p = getDocs(collection(db, c.path)); break;
      case 'create': p = setDoc(doc(db, c.path), value(c.data || {})); break;
      case 'update': p = updateDoc(doc(db, c.path), value(c.data || {})); break;
      case 'delete': p = deleteDoc(doc(db, c.path)); break;
      default: throw new Error('unknown op ' + c.op);
    }
    try {
      await (c.expect === 'allow' ? assertSucceeds(p) : assertFails(p));
    } catch (e) {
      mismatches++;
      console.error(`mismatch: ${c.name}: ${e.message}`);
    }
    if (write) await seed(); // the next cases see the fixtures, as fbadmin's scratch projects do
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await env.cleanup();
  console.log(JSON.stringify({ cases: spec.cases.length, mismatches, seconds }));
}

main().catch((e) => { console.error(e); process.exit(1); });
