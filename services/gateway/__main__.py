from services.gateway.app import create_app
from shared.web import service_main

if __name__ == "__main__":
    service_main("gateway", create_app, lambda s: s.gateway_port)
