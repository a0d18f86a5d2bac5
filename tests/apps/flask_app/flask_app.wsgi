import time

from flask import Flask, Response, redirect, request

app = Flask(__name__)


@app.route("/")
def index():
    return "flask index"


@app.route("/form", methods=["POST"])
def form():
    return "name=%s" % request.form["name"]


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    import hashlib
    return "%s %d %s" % (f.filename, len(data), hashlib.sha256(data).hexdigest())


@app.route("/stream")
def stream():
    def gen():
        for i in range(3):
            yield "chunk %d\n" % i
            time.sleep(0.05)
    return Response(gen(), mimetype="text/plain")


@app.route("/redirect")
def to_index():
    return redirect("/flask/")


@app.route("/boom")
def boom():
    raise RuntimeError("flask view failed on purpose")


application = app
