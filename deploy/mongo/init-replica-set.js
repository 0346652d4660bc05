// First start of the `mongo` container: make it a single-node replica set so that
// transactions, change streams and retryable writes work as in production.
try {
  rs.status();
} catch (e) {
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
}
