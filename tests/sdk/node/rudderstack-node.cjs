// RudderStack's Node SDK (@rudderstack/rudder-sdk-node), unchanged but for its data plane.
// env: HOST (the gateway), KEY (the secret key), USER
const Analytics = require("@rudderstack/rudder-sdk-node");

async function main() {
  const { HOST, KEY, USER } = process.env;
  const errors = [];
  const client = new Analytics(KEY, {
    dataPlaneUrl: HOST,
    flushAt: 20,
    flushInterval: 200,
    retryCount: 1,
    logLevel: "error",
    errorHandler: (e) => errors.push(String((e && e.message) || e)),
  });
  // traits only in context.traits, as RudderStack's SDKs send them (this one copies root
  // traits there itself, so it sends them both ways)
  client.identify({
    userId: USER,
    anonymousId: `anon-${USER}`,
    context: { traits: { name: "Rudi Node", email: `${USER}@example.com`, plan: "team" } },
  });
  client.track({ userId: USER, event: "Invoice Paid", properties: { amount: 42 } });
  client.track({ userId: "null", event: "Never Stored" });
  await client.flush();
  console.log(JSON.stringify({ errors }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
