from services.dashboard.app import create_app
from shared.web import service_main

if __name__ == "__main__":
    service_main("dashboard", create_app, lambda s: s.dashboard_port)
