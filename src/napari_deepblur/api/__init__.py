"""What users call: :func:`~.identify.identify` and :func:`~.deblur.deblur` (given by the package itself as
``napari_deepblur.identify`` / ``napari_deepblur.deblur``), with every parameter resolved once in :mod:`.params`,
tiling, the one stack loop and the one provenance record.

Above the methods and the physics; below the widgets, the CLI, the batch runner, training and benchmarks. This
package re-exports nothing, so its modules ``deblur`` and ``identify`` are never shadowed by the functions of the same
name, and :mod:`.params` and :mod:`.provenance` import without torch.
"""
