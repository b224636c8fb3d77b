"""GroupedBatchNorm3d: training statistics over fixed groups of clips (multigrid's BN), the
pooled running statistics, and the conversion of a model's BatchNorm3d layers."""

import pytest
import torch
from torch import nn

from slowfast_det.modeling.sub_batch_norm import GroupedBatchNorm3d, convert_to_grouped_bn


def _pair(group):
    torch.manual_seed(0)
    bn = GroupedBatchNorm3d(4, group)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    ref = nn.BatchNorm3d(4)
    ref.load_state_dict(bn.state_dict())
    return bn, ref


@pytest.mark.parametrize("channels_last", [False, True])
def test_each_group_is_normalised_alone_with_the_same_gradients(channels_last):
    bn, ref = _pair(3)
    x = torch.randn(9, 4, 2, 5, 5) * 3 + 1
    if channels_last:
        x = x.to(memory_format=torch.channels_last_3d)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = bn(x1)
    y_ref = torch.cat([ref(c) for c in x2.split(3)])
    torch.testing.assert_close(y, y_ref)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    # full-batch BN would give other values
    assert not torch.allclose(y, nn.functional.batch_norm(x, None, None, bn.weight, bn.bias, True))


def test_running_statistics_pool_the_groups():
    bn, ref = _pair(2)
    bn.momentum = ref.momentum = 1.0
    x = torch.randn(6, 4, 2, 3, 3) + torch.arange(6.0).view(6, 1, 1, 1, 1)  # groups differ
    bn(x)
    ref(x)  # the whole batch's mean and unbiased variance
    torch.testing.assert_close(bn.running_mean, ref.running_mean)
    torch.testing.assert_close(bn.running_var, ref.running_var)
    assert int(bn.num_batches_tracked) == 1
    # one group (n == group size) and eval mode are nn.BatchNorm3d's
    bn, ref = _pair(6)
    torch.testing.assert_close(bn(x), ref(x))
    torch.testing.assert_close(bn.running_var, ref.running_var)
    bn.eval(), ref.eval()
    torch.testing.assert_close(bn(x[:4]), ref(x[:4]))


def test_conversion_keeps_parameters_buffers_and_keys():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.Sequential(nn.BatchNorm3d(4)), nn.BatchNorm2d(4)
    )
    model[1].running_mean.fill_(0.3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model, n = convert_to_grouped_bn(model, 8)
    assert n == 2 and isinstance(model[2][0], GroupedBatchNorm3d)
    assert type(model[3]) is nn.BatchNorm2d
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_statistics_across_ranks_are_float32_for_low_precision_inputs(tmp_path):
    """Under autocast the layer sees bfloat16 / float16 maps: the statistics shared across
    ranks are still summed in float32 (a bfloat16 count of 1530 positions would be 1528; a
    float16 sum overflows), so the output is the float32 computation on the same values."""
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        group = dist.new_group([0])
        x = (torch.randn(2, 4, 3, 15, 17) * 3 + 1).to(torch.bfloat16)
        outs = {}
        for dtype in (torch.bfloat16, torch.float32):
            bn, _ = _pair(2)
            outs[dtype] = (bn._across_ranks(x.to(dtype), group), bn.running_mean, bn.running_var)
        (y, mean, var), (y_ref, mean_ref, var_ref) = outs[torch.bfloat16], outs[torch.float32]
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(mean, mean_ref)
        torch.testing.assert_close(var, var_ref)
    finally:
        dist.destroy_process_group()
