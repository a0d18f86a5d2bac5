import no_such_module_anywhere_xyz

def application(environ, start_response):
    start_response("200 OK", [])
    return [b"x"]
