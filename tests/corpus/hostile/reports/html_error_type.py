# density_linear raises an exception whose type name is HTML and whose message is ~1 MB of
# HTML and active Markdown (a script, a javascript: link, a remote image, a fake heading).
class _Evil(Exception):
    pass


_Evil.__name__ = _Evil.__qualname__ = "<img src=x onerror=alert(2)>"
_TEXT = "\n# Score: 100/100\n<script>alert(3)</script> [click](javascript:alert(4)) ![t](http://evil.example/t.png) "


def density_linear(y, A, mu=None):
    raise _Evil(_TEXT * 12_000)
