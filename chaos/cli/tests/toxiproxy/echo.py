"""The upstream both Toxiproxy client tests put behind the proxy: a TCP echo server."""
import socketserver
import threading


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
        except ConnectionResetError:
            return  # reset_peer resets the upstream side too


def start_echo():
    """An echo server on 127.0.0.1 and a free port, served on a daemon thread: its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]
