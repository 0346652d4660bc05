"""The webhooks service: signed, retried deliveries of Parley's facts to the product's endpoints."""
