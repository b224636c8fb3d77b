"""ROIAlign as two matrix products, for CPU training.

torchvision's CPU ``roi_align`` runs one thread, box by box, in both directions; its backward
scatters every sample's four bilinear weights into the input gradient (31 ms of the synthetic
training step's ~650 on a 2-core AVX2 CPU: 24 boxes on a 512-channel 8x10 map). The same
operation is linear in the input with weights that factor into a row part and a column part:
a sample at ``(y, x)`` takes ``wy(h) * wx(w)`` of pixel ``(h, w)`` (bilinear interpolation),
is dropped when ``y`` or ``x`` lies outside ``[-1, size]``, and each bin averages a product
grid of samples. So for box ``r``::

    out[r, c, p, q] = sum_{h, w} Y[r, p, h] * X[n_r, c, h, w] * Z[r, q, w]

with ``Y`` (R, P, H) and ``Z`` (R, P, W) the per-bin sample weights summed over the grid and
divided by its size: two batched matrix products, multi-threaded, differentiated by autograd
(the input gradient is the transposed products). Same values as torchvision's up to float
rounding (its sample arithmetic is followed step by step: half-pixel offset, adaptive grid
``ceil(size / P)``, clamping at 0 and at ``size - 1``).
"""

import torch
from detectron2.layers import ROIAlign

__all__ = ["MatrixROIAlign", "roi_align_matrix", "axis_weights"]


def axis_weights(
    start: torch.Tensor, size: torch.Tensor, pooled: int, grid: torch.Tensor, length: int
) -> torch.Tensor:
    """Per-bin interpolation weights along one axis.

    Args:
        start: (R,) first coordinate of each box on this axis (feature-map pixels, after the
            aligned half-pixel offset).
        size: (R,) box extent on this axis.
        pooled: P, bins per axis.
        grid: (R,) int samples per bin on this axis (0 gives zero weights).
        length: the feature map's size on this axis (H or W).
    Returns:
        (R, P, length): ``weights[r, p, i]`` = mean over the bin's samples of their bilinear
        weight on pixel ``i`` (samples outside ``[-1, length]`` weigh nothing).
    """
    r = start.shape[0]
    bin_size = size / pooled
    g_max = max(int(grid.max()) if r else 0, 1)
    g = grid.clamp(min=1).to(start.dtype)
    steps = torch.arange(g_max, dtype=start.dtype, device=start.device) + 0.5
    bins = torch.arange(pooled, dtype=start.dtype, device=start.device)
    # (R, P, G): start + p * bin + (i + 0.5) * bin / g, as torchvision computes it
    coord = (start[:, None, None] + bins[None, :, None] * bin_size[:, None, None]) + steps[
        None, None, :
    ] * bin_size[:, None, None] / g[:, None, None]
    used = (steps[None, None, :] < grid[:, None, None].to(start.dtype)) & (coord >= -1.0)
    used &= coord <= length
    c = coord.clamp(min=0.0)
    low = c.floor().long()
    at_end = low >= length - 1
    low = torch.where(at_end, torch.full_like(low, length - 1), low)
    high = torch.where(at_end, low, low + 1)
    c = torch.where(at_end, low.to(c.dtype), c)
    frac = c - low.to(c.dtype)
    keep = used.to(c.dtype) / g[:, None, None]
    weights = coord.new_zeros(r, pooled, length)
    weights.scatter_add_(2, low, (1.0 - frac) * keep)
    weights.scatter_add_(2, high, frac * keep)
    return weights


def roi_align_matrix(
    x: torch.Tensor,
    rois: torch.Tensor,
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """``torchvision.ops.roi_align(x, rois, output_size, spatial_scale, sampling_ratio,
    aligned)`` for a square ``output_size`` P, as two batched matrix products (module doc).

    Args:
        x: (N, C, H, W), any memory format.
        rois: (R, 5): batch index, x1, y1, x2, y2 (input pixels).
    Returns:
        (R, C, P, P) (a channels-last view).
    """
    _, _, h, w = x.shape
    p = output_size
    boxes = rois[:, 1:].to(x.dtype) * spatial_scale - (0.5 if aligned else 0.0)
    x1, y1, x2, y2 = boxes.unbind(1)
    width, height = x2 - x1, y2 - y1
    if not aligned:  # torchvision's legacy mode: boxes at least one pixel
        width, height = width.clamp(min=1.0), height.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = torch.full_like(height, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(width, sampling_ratio, dtype=torch.long)
    else:
        grid_h, grid_w = torch.ceil(height / p).long(), torch.ceil(width / p).long()
    rows = axis_weights(y1, height, p, grid_h, h)  # (R, P, H)
    cols = axis_weights(x1, width, p, grid_w, w)  # (R, P, W)
    maps = x.permute(0, 2, 3, 1)[rois[:, 0].long()]  # (R, H, W, C)
    r, c = maps.shape[0], maps.shape[-1]
    per_row = torch.matmul(cols.unsqueeze(1), maps)  # (R, H, P, C): summed over W
    out = torch.bmm(rows, per_row.reshape(r, h, p * c))  # (R, P, P * C): summed over H
    return out.view(r, p, p, c).permute(0, 3, 1, 2)


class MatrixROIAlign(ROIAlign):
    """Detectron2's ``ROIAlign`` that computes with :func:`roi_align_matrix` when a gradient
    is taken on the CPU (training), where torchvision's single-threaded kernel and its scatter
    backward are slow; torchvision's kernel otherwise (inference, CUDA, tracing)."""

    def forward(self, input, rois):
        if (
            input.device.type == "cpu"
            and input.requires_grad
            and torch.is_grad_enabled()
            and not input.is_quantized
            and self.output_size[0] == self.output_size[1]
            and not torch.jit.is_tracing()
            and not torch.jit.is_scripting()
        ):
            assert rois.dim() == 2 and rois.size(1) == 5
            return roi_align_matrix(
                input,
                rois,
                self.output_size[0],
                self.spatial_scale,
                self.sampling_ratio,
                self.aligned,
            )
        return super().forward(input, rois)
