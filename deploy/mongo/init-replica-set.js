// Run once by the compose file's one-shot `mongo-init` container, against the real
// `mongo` server: make it a single-node replica set (transactions, change streams and
// retryable writes need one), then wait until it is primary. A second run finds the
// set and only waits; any other error fails the container, and with it the start.
try {
  rs.status();
} catch (e) {
  if (e.codeName !== "NotYetInitialized") throw e;
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
}
for (let waited = 0; !db.hello().isWritablePrimary; waited++) {
  if (waited >= 60) throw new Error("rs0 has no primary after 60 s");
  sleep(1000);
}
print("replica set rs0 is ready");
