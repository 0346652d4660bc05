from services.webhooks.app import create_app
from shared.web import service_main

if __name__ == "__main__":
    service_main("webhooks", create_app, lambda s: s.webhooks_port)
