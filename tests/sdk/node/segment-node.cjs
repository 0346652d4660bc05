// Segment's Node client (@segment/analytics-node), unchanged but for its host.
// env: HOST (the gateway), KEY (the secret key: a server's "write key"), USER
const { Analytics } = require("@segment/analytics-node");

async function main() {
  const { HOST, KEY, USER } = process.env;
  const analytics = new Analytics({ writeKey: KEY, host: HOST, flushInterval: 200, maxRetries: 2 });
  const errors = [];
  const statuses = [];
  analytics.on("error", (e) => errors.push(String((e && (e.reason || e.code)) || e)));
  analytics.on("http_request", (r) => statuses.push(r.url));
  analytics.identify({
    userId: USER,
    anonymousId: `anon-${USER}`,
    traits: { email: `${USER}@example.com`, name: "Nora Node", plan: "pro" },
  });
  analytics.track({ userId: USER, event: "Report Exported", properties: { format: "csv" } });
  // refused by the gateway (a placeholder id): the batch's others are stored all the same
  analytics.track({ userId: "undefined", event: "Never Stored" });
  await analytics.closeAndFlush({ timeout: 20000 });
  console.log(JSON.stringify({ errors, requests: statuses }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
