#!/usr/bin/env python3
"""
Fixtures for the ONNX import of genmeasures (test/models/onnx.test.ts): small PyTorch models exported
with torch.onnx.export, and what PyTorch itself says about them, computed in float64 independently of
genmeasures.

Regenerate (Debian's python3 with PyTorch 1.13, CPU; no other package needed) from the repository root:

    /usr/bin/python3 scripts/onnx-fixtures.py

It writes test/fixtures/onnx/<name>.onnx for every model below and test/fixtures/onnx/expected.json:

    {"models": {name: {"file", "input_shape" (one example, NCHW without the batch: [C, H, W] or [D]),
                       "inputs" (examples, each flat in NCHW order), "labels", "logits" (float64),
                       "margin_eps", "measures": {margin, l2, l1_path, l2_path, spectral, l1_inf, lipschitz}}}}

Models (fixed seeds, eval mode, opset 13, do_constant_folding=True, a symbolic batch dimension):
  mlp      [N, 784] -> Linear(784, 32) -> BatchNorm1d(32) -> ReLU -> Linear(32, 16) -> ReLU -> Dropout
           -> Linear(16, 10), with biases (the exporter keeps the BatchNormalization node after Gemm)
  vgg      [N, 3, 8, 8] -> Conv(3, 8, 3, padding 1) -> BatchNorm2d -> ReLU -> Conv(8, 8, 3, padding 1)
           -> ReLU -> MaxPool2d(2) -> Conv(8, 16, 3, padding 1) -> ReLU -> AvgPool2d(2)
           -> x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape) -> Linear(64, 16) -> ReLU
           -> Linear(16, 10), with biases (the exporter folds this BatchNorm2d into the conv)
  nobias   [N, 3, 9, 9] -> Conv(3, 6, 3, stride 2, padding 1) -> ReLU -> Conv(6, 8, 2) -> ReLU
           -> MaxPool2d(2) -> torch.flatten(x, 1) (Flatten) -> Linear(32, 12) -> ReLU -> Linear(12, 10),
           no biases anywhere
  gap      [N, 2, 6, 6] -> Conv(2, 8, 3, padding 1) -> ReLU -> AdaptiveAvgPool2d(1) (GlobalAveragePool)
           -> nn.Flatten() -> Linear(8, 10)

The measures follow genmeasures' definitions (docs/definitions.md, src/measures/*.ts): BatchNorm folded into
the layer before it; every weight layer as the matrix of the linear operator it is on its input shape
(a convolution: h_i = channels x height x width of its output, built here explicitly by convolving the
unit basis); a bias as the weight from an always-on unit (the augmented [W_i | b_i]); path sums by one
forward pass with |w|^p weights, linear activations and an all-ones input, max pooling counted as the sum
over its window (an upper bound), average pooling as weights (1/window)^p; gamma the ceil(eps*m)-th
smallest margin of the stored labelled set. Inputs are multiples of 1/4 (exact in float32).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'onnx')
EPS = 0.05
POINTS = 8


class View(nn.Module):
    """x.view(x.size(0), -1): the Shape/Gather/Unsqueeze/Concat/Reshape chain in the export."""

    def forward(self, x):
        return x.view(x.size(0), -1)


class TorchFlatten(nn.Module):
    """torch.flatten(x, 1): a Flatten node."""

    def forward(self, x):
        return torch.flatten(x, 1)


def randomize_bn(bn, g):
    n = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=g) * 0.2)
        bn.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
        bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)


def make_models():
    models = {}
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(11)
    mlp = nn.Sequential(nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 10))
    randomize_bn(mlp[1], g)
    models['mlp'] = (mlp, [784])
    torch.manual_seed(2)
    vgg = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        View(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    randomize_bn(vgg[1], g)
    models['vgg'] = (vgg, [3, 8, 8])
    torch.manual_seed(3)
    nobias = nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(6, 8, 2, bias=False), nn.ReLU(), nn.MaxPool2d(2),
        TorchFlatten(), nn.Linear(32, 12, bias=False), nn.ReLU(), nn.Linear(12, 10, bias=False))
    models['nobias'] = (nobias, [3, 9, 9])
    torch.manual_seed(4)
    gap = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    models['gap'] = (gap, [2, 6, 6])
    for m, _ in models.values():
        m.eval()
    return models


# ------------------------------------------------------------------------------------------------
# float64 reference measures

def folded_layers(model, input_shape):
    """The weight layers after BatchNorm folding, with their geometry, in float64, and the pooling layers."""
    out = []  # items: dict(kind=conv|dense|maxpool|avgpool|gap|flat|relu, ...)
    shape = list(input_shape)
    for mod in model:
        if isinstance(mod, nn.Conv2d):
            assert mod.groups == 1 and mod.dilation == (1, 1)
            w = mod.weight.detach().double().clone()
            b = mod.bias.detach().double().clone() if mod.bias is not None else None
            c, h, wd = shape
            ho = (h + 2 * mod.padding[0] - mod.kernel_size[0]) // mod.stride[0] + 1
            wo = (wd + 2 * mod.padding[1] - mod.kernel_size[1]) // mod.stride[1] + 1
            out.append(dict(kind='conv', w=w, b=b, stride=mod.stride, padding=mod.padding, in_shape=list(shape), out_shape=[w.shape[0], ho, wo]))
            shape = [w.shape[0], ho, wo]
        elif isinstance(mod, nn.Linear):
            w = mod.weight.detach().double().clone()
            b = mod.bias.detach().double().clone() if mod.bias is not None else None
            out.append(dict(kind='dense', w=w, b=b))
            shape = [w.shape[0]]
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            prev = out[-1]
            assert prev['kind'] in ('conv', 'dense')
            scale = mod.weight.detach().double() / torch.sqrt(mod.running_var.double() + mod.eps)
            shift = mod.bias.detach().double() - mod.running_mean.double() * scale
            w = prev['w']
            prev['w'] = w * scale.reshape([-1] + [1] * (w.dim() - 1))
            b = prev['b'] if prev['b'] is not None else torch.zeros(w.shape[0], dtype=torch.float64)
            prev['b'] = b * scale + shift
        elif isinstance(mod, nn.ReLU):
            out.append(dict(kind='relu'))
        elif isinstance(mod, nn.MaxPool2d):
            k, s = mod.kernel_size, mod.stride
            assert k == s and mod.padding == 0
            c, h, wd = shape
            out.append(dict(kind='maxpool', k=k))
            shape = [c, h // k, wd // k]
        elif isinstance(mod, nn.AvgPool2d):
            k, s = mod.kernel_size, mod.stride
            assert k == s and mod.padding == 0
            c, h, wd = shape
            out.append(dict(kind='avgpool', k=k))
            shape = [c, h // k, wd // k]
        elif isinstance(mod, nn.AdaptiveAvgPool2d):
            c, h, wd = shape
            out.append(dict(kind='gap', window=h * wd))
            shape = [c, 1, 1]
        elif isinstance(mod, (View, TorchFlatten, nn.Flatten)):
            shape = [int(np.prod(shape))]
            out.append(dict(kind='flat'))
        elif isinstance(mod, nn.Dropout):
            pass
        else:
            raise TypeError(mod)
    return out


def operator_matrix(layer):
    """The weight layer as an explicit matrix [units_out, units_in] (+ the bias column when it has one)."""
    if layer['kind'] == 'dense':
        m = layer['w'].numpy()
        bias_col = layer['b'].numpy() if layer['b'] is not None else None
    else:
        c, h, wd = layer['in_shape']
        n = c * h * wd
        basis = torch.eye(n, dtype=torch.float64).reshape(n, c, h, wd)
        y = F.conv2d(basis, layer['w'], None, layer['stride'], layer['padding'])
        m = y.reshape(n, -1).T.numpy()
        if layer['b'] is not None:
            o, ho, wo = layer['out_shape']
            bias_col = np.repeat(layer['b'].numpy(), ho * wo)  # CHW order of the output units
        else:
            bias_col = None
    if bias_col is not None:
        m = np.concatenate([m, bias_col[:, None]], axis=1)
    return m


def path_sum(layers, input_shape, p):
    x = torch.ones([1] + list(input_shape), dtype=torch.float64)
    for l in layers:
        k = l['kind']
        if k == 'conv':
            x = F.conv2d(x, l['w'].abs() ** p, (l['b'].abs() ** p) if l['b'] is not None else None, l['stride'], l['padding'])
        elif k == 'dense':
            x = x @ (l['w'].abs() ** p).T
            if l['b'] is not None:
                x = x + l['b'].abs() ** p
        elif k == 'maxpool':
            x = F.avg_pool2d(x, l['k']) * l['k'] ** 2  # the sum over the window
        elif k == 'avgpool':
            x = F.avg_pool2d(x, l['k']) * l['k'] ** 2 * (1.0 / l['k'] ** 2) ** p
        elif k == 'gap':
            x = x.sum(dim=(2, 3), keepdim=True) * (1.0 / l['window']) ** p
        elif k == 'flat':
            x = x.reshape(1, -1)
    return float(x.sum())


def reference_measures(model, input_shape, gamma):
    layers = folded_layers(model, input_shape)
    weights = [l for l in layers if l['kind'] in ('conv', 'dense')]
    mats = [operator_matrix(l) for l in weights]
    units = [m.shape[0] for m in mats]
    d = len(mats)
    fro = [np.linalg.norm(m, 'fro') for m in mats]
    spec = [np.linalg.norm(m, 2) for m in mats]
    l1inf = [np.abs(m).sum(axis=1).max() for m in mats]
    s1 = path_sum(layers, input_shape, 1)
    s2 = path_sum(layers, input_shape, 2)
    prod = lambda v: float(np.prod(np.array(v, dtype=np.float64)))
    return {
        'margin': gamma,
        'l2': prod([4 * f * f for f in fro]) / gamma ** 2,
        'l1_path': 4.0 ** d * s1 ** 2 / gamma ** 2,
        'l2_path': 4.0 ** d * prod(units) * s2 / gamma ** 2,
        'spectral': prod([h * s * s for h, s in zip(units, spec)]) / gamma ** 2,
        'l1_inf': prod([4 * v * v for v in l1inf]) / gamma ** 2,
        'lipschitz': prod(spec),  # non-overlapping pooling only: no pooling factor
    }


def margins_of(logits, labels):
    out = []
    for row, y in zip(logits, labels):
        other = max(v for j, v in enumerate(row) if j != y)
        out.append(row[y] - other)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {
        'generator': 'scripts/onnx-fixtures.py, PyTorch ' + torch.__version__ + ' (float64 reference, independent of genmeasures)',
        'models': {},
    }
    for name, (model, shape) in make_models().items():
        torch.manual_seed(100)
        # candidates: multiples of 1/4 in [-2, 2]; keep the POINTS with the largest float64 margins
        cand = torch.randint(-8, 9, [64] + shape).double() / 4
        with torch.no_grad():
            logits64 = model.double()(cand)
        labels = logits64.argmax(dim=1)
        top = logits64.topk(2, dim=1).values
        order = torch.argsort(top[:, 0] - top[:, 1], descending=True)[:POINTS]
        order = torch.sort(order).values
        x = cand[order]
        y = labels[order].tolist()
        lg = logits64[order].tolist()
        ms = margins_of(lg, y)
        k = max(1, min(len(ms), math.ceil(EPS * len(ms) - 1e-9)))
        gamma = sorted(ms)[k - 1]
        measures = reference_measures(model, shape, gamma)
        model.float()
        path = os.path.join(OUT, name + '.onnx')
        torch.onnx.export(
            model, torch.zeros([2] + shape), path, opset_version=13, do_constant_folding=True,
            input_names=['input'], output_names=['logits'],
            dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
        expected['models'][name] = {
            'file': name + '.onnx',
            'input_shape': shape,
            'inputs': [[float(v) for v in row.reshape(-1).tolist()] for row in x],
            'labels': y,
            'logits': lg,
            'margin_eps': EPS,
            'measures': measures,
        }
        print(f'{name}: {os.path.getsize(path)} bytes, gamma {gamma:.4g}, ' + ', '.join(f'{k} {v:.6g}' for k, v in measures.items()))
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))
        f.write('\n')


if __name__ == '__main__':
    main()
