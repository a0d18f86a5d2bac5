import os
import time

LOADED_AT = time.time()
LOADED_PID = os.getpid()

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %f" % (LOADED_PID, LOADED_AT)).encode()]
