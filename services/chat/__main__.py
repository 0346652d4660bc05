from services.chat.app import create_app
from shared.web import service_main

if __name__ == "__main__":
    service_main("chat", create_app, lambda s: s.chat_port)
