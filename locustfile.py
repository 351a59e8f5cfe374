"""Load test swarmserve with Locust: the tutorial's locustfile, brought up to date.

    locust -f locustfile.py --host http://localhost:8080      # web UI on http://localhost:8089
    locust -f locustfile.py --host http://localhost:8080 --headless -u 50 -r 5 -t 2m --csv run

Each simulated user posts the sample photo as multipart field "img_file" to /predict, as the
web form of the tutorial does, then waits 0.5-5 s. An answer counts as a failure unless it is
HTTP 200 with JSON "success": true. Environment variables (all optional):

    SWARMSERVE_LOCUST_WAIT   think time in seconds, "A-B" or "A" (default "0.5-5")
    SWARMSERVE_LOCUST_IMAGE  the photo to send (default test/fixtures/images/dog.jpg)
    SWARMSERVE_LOCUST_MODEL  the model to ask for (default: the server's)

`swarmserve load` does the same from Node, and writes Locust's CSV columns (docs/loadtest.md).
"""

import mimetypes
import os

from locust import HttpUser, between, task

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.environ.get("SWARMSERVE_LOCUST_IMAGE") or os.path.join(HERE, "test", "fixtures", "images", "dog.jpg")
MODEL = os.environ.get("SWARMSERVE_LOCUST_MODEL") or None


def wait_override():
    """(A, B) seconds from SWARMSERVE_LOCUST_WAIT ("A-B" or "A"), or None when it is not set."""
    text = os.environ.get("SWARMSERVE_LOCUST_WAIT")
    if not text:
        return None
    low, _, high = text.partition("-")
    try:
        a, b = float(low), float(high or low)
    except ValueError:
        raise SystemExit(f"SWARMSERVE_LOCUST_WAIT must be seconds as A-B or A (e.g. 0.5-5), got {text!r}")
    if not 0 <= a <= b:
        raise SystemExit(f"SWARMSERVE_LOCUST_WAIT must have 0 <= A <= B, got {text!r}")
    return a, b


WAIT = wait_override()
with open(IMAGE, "rb") as image_file:
    IMAGE_BYTES = image_file.read()
IMAGE_TYPE = mimetypes.guess_type(IMAGE)[0] or "application/octet-stream"


def failure_reason(response):
    """None when the answer is HTTP 200 with JSON success: true, else why not."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    if response.status_code != 200:
        return f"HTTP {response.status_code} {error.get('code', '')}".strip()
    if body.get("success") is not True:
        return "success:false" if body else "not JSON"
    return None


class PredictUser(HttpUser):
    # The tutorial's think time, unless SWARMSERVE_LOCUST_WAIT says otherwise.
    wait_time = between(0.5, 5) if WAIT is None else between(*WAIT)

    @task
    def predict(self):
        files = {"img_file": (os.path.basename(IMAGE), IMAGE_BYTES, IMAGE_TYPE)}
        params = {"model": MODEL} if MODEL else None
        with self.client.post("/predict", files=files, params=params, name="/predict", catch_response=True) as response:
            reason = failure_reason(response)
            if reason is None:
                response.success()
            else:
                response.failure(reason)
