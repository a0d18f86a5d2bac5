def app2(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app2 called"]

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"default called"]
