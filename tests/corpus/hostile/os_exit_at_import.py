# Kills its own process while being imported, skipping every handler.
import os
os._exit(0)
