"""A stand-in OTLP/HTTP collector for the benches: accepts POST /v1/traces and prints, per
export, how many spans it held (counted from the protobuf without decoding it fully)."""

import http.server
import sys


def varint(data, at):
    shift = value = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def fields(data):
    """(field number, bytes) of each length-delimited field of a message."""
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        kind = key & 7
        if kind == 2:
            length, at = varint(data, at)
            yield key >> 3, data[at:at + length]
            at += length
        elif kind == 0:
            _, at = varint(data, at)
        elif kind == 1:
            at += 8
        elif kind == 5:
            at += 4
        else:
            return


def spans(body):
    # ExportTraceServiceRequest.resource_spans(1) -> ResourceSpans.scope_spans(2) -> spans(2)
    return sum(
        1
        for number, resource in fields(body) if number == 1
        for inner, scope in fields(resource) if inner == 2
        for field, _ in fields(scope) if field == 2
    )


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(spans(body), flush=True)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
