// The benchmark's migration for fireway: every user gets plan "free" when
// it has none, and name is renamed to title. Written as a fireway user
// would write a bulk change: one query, batched updates of 500.
module.exports.migrate = async ({ firestore, FieldValue }) => {
  const snap = await firestore.collection('users').get();
  let batch = firestore.batch();
  let n = 0;
  const commits = [];
  for (const doc of snap.docs) {
    const d = doc.data();
    const upd = { title: d.name, name: FieldValue.delete() };
    if (d.plan === undefined) upd.plan = 'free';
    batch.update(doc.ref, upd);
    if (++n % 500 === 0) {
      commits.push(batch.commit());
      batch = firestore.batch();
    }
  }
  commits.push(batch.commit());
  await Promise.all(commits);
};
