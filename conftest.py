"""pytest and nbval run every notebook in the ``quick`` profile unless told otherwise.

``MNIST_COURSE_PROFILE=full pytest --nbval chapters/`` runs the full experiments instead.
The variable is set here, before nbval starts any kernel, so each kernel inherits it.
"""

import os

os.environ.setdefault("MNIST_COURSE_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
