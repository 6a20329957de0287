import torch

from model import Tudui

TUTORIAL_KEYS = [f"model.{i}.{p}" for i in (0, 2, 4, 7, 8) for p in ("weight", "bias")]


def test_output_shape_and_tutorial_state_dict_keys():
    net = Tudui()
    assert net(torch.zeros(64, 3, 32, 32)).shape == (64, 10)
    assert list(net.state_dict()) == TUTORIAL_KEYS
    assert sum(p.numel() for p in net.parameters()) == 145_578


def test_num_classes_sets_the_last_layer():
    assert Tudui(num_classes=3)(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_no_activations_as_in_the_tutorial():
    kinds = {type(m).__name__ for m in Tudui().model}
    assert kinds == {"Conv2d", "MaxPool2d", "Flatten", "Linear"}
