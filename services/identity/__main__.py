from services.identity.app import create_app
from shared.web import service_main

if __name__ == "__main__":
    service_main("identity", create_app, lambda s: s.identity_port)
