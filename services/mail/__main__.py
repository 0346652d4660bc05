from services.mail.app import create_app
from shared.web import service_main

if __name__ == "__main__":
    service_main("mail", create_app, lambda s: s.mail_port)
