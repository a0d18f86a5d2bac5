import hashlib
import time

from django.http import (HttpResponse, HttpResponseRedirect,
                         StreamingHttpResponse)
from django.urls import path


def index(request):
    return HttpResponse("django index")


def form(request):
    return HttpResponse("name=%s" % request.POST["name"])


def upload(request):
    f = request.FILES["file"]
    data = f.read()
    return HttpResponse("%s %d %s" % (f.name, len(data),
                                      hashlib.sha256(data).hexdigest()))


def stream(request):
    def gen():
        for i in range(3):
            yield "chunk %d\n" % i
            time.sleep(0.05)
    return StreamingHttpResponse(gen(), content_type="text/plain")


def to_index(request):
    return HttpResponseRedirect("/django/")


def boom(request):
    raise RuntimeError("django view failed on purpose")


urlpatterns = [
    path("", index),
    path("form", form),
    path("upload", upload),
    path("stream", stream),
    path("redirect", to_index),
    path("boom", boom),
]
