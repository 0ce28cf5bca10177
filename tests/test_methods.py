import pytest
import torch

from steering.methods import METHODS, get_method


def test_add_is_h_plus_alpha_v():
    h = torch.tensor([[1.0, 2.0, 3.0]])
    v = torch.tensor([0.5, 0.0, -1.0])
    out = get_method("add")(h, v, torch.tensor([[2.0]]))
    assert torch.equal(out, torch.tensor([[2.0, 2.0, 1.0]]))


def test_add_renorm_keeps_each_token_norm_and_differs_from_add():
    torch.manual_seed(0)
    h = torch.randn(3, 5, 64) * 10
    v = torch.randn(64)
    alpha = torch.tensor([[[50.0]], [[-80.0]], [[300.0]]])
    renormed = get_method("add_renorm")(h, v, alpha)
    added = get_method("add")(h, v, alpha)
    relative_error = (renormed.norm(dim=-1) - h.norm(dim=-1)).abs() / h.norm(dim=-1)
    assert relative_error.max() < 1e-5
    assert (renormed - added).norm(dim=-1).min() > 1.0
    # direction is that of h + alpha v
    cosine = torch.nn.functional.cosine_similarity(renormed, added, dim=-1)
    assert torch.allclose(cosine, torch.ones_like(cosine), atol=1e-5)


def test_add_renorm_at_alpha_zero_is_exactly_identity():
    h = torch.randn(2, 4, 16)
    out = get_method("add_renorm")(h, torch.randn(16), torch.zeros(2, 1, 1))
    assert torch.equal(out, h)


def test_orthogonal_scales_the_component_along_v():
    h = torch.tensor([[3.0, 4.0]])
    v = torch.tensor([2.0, 0.0])  # along x; its norm must not matter
    out = get_method("orthogonal")(h, v, torch.tensor([[-2.0]]))
    assert torch.allclose(out, torch.tensor([[-6.0, 4.0]]))
    assert torch.allclose(get_method("orthogonal")(h, v, torch.tensor([[1.0]])), h)


def test_projection_cap_caps_the_projection_only_when_above_alpha():
    h = torch.tensor([[3.0, 4.0], [1.0, 4.0]])
    v = torch.tensor([5.0, 0.0])
    out = get_method("projection_cap")(h, v, torch.tensor([[2.0], [2.0]]))
    assert torch.allclose(out, torch.tensor([[2.0, 4.0], [1.0, 4.0]]))


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError) as error:
        get_method("multiply")
    assert "'multiply'" in str(error.value)
    for name in METHODS:
        assert name in str(error.value)
