"""srlab: a hands-on course on lightweight image super-resolution.

Modules, one concept each: ``config`` (settings), ``checks`` (input validation), ``data``,
``metrics``, ``cost``, ``layers``, ``models``, ``diffusion``, ``train``, ``pretrained``,
``viz``, ``bench``. Images are float tensors in [0, 1], NCHW, RGB.
"""

__version__ = "0.1.0"
