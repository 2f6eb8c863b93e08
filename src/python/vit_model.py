"""vit-train's Vision Transformer in PyTorch, and the loader of `vit-eval --export` files.

One file, no dependency beyond torch (and `safetensors` for load()); copy it next to your code or
put this folder on sys.path:

    import sys; sys.path.insert(0, "src/python"); import vit_model
    model = vit_model.load("model.safetensors")             # built from the file, eval mode
    classes, probabilities = vit_model.predict(model, pixels)  # pixels: uint8 (N, 28, 28)

The modules carry the names of vit-train's (patch_embed.linear, blocks.0.attention.qkv, ...), so
an exported file's state dict loads strictly. Inputs are what training saw: float32 images
(N, C, H, W) in [0, 1], MNIST's uint8 pixels / 255, light digits on black. For a photo,
`vit-predict --save-input DIR` writes the 28x28 image that MNIST's preparation makes of it.
bench/reference/vit_ddp.py trains this same module with DistributedDataParallel.
"""
import math
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 10


def patchify(images, n_patches):
    """(N, C, H, W) -> (N, n_patches^2, C*ph*pw); sides zero-padded up to a multiple."""
    n, c, h, w = images.shape
    ph, pw = -(-h // n_patches), -(-w // n_patches)
    if ph * n_patches != h or pw * n_patches != w:
        images = F.pad(images, (0, pw * n_patches - w, 0, ph * n_patches - h))
    x = images.reshape(n, c, n_patches, ph, n_patches, pw).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n, n_patches * n_patches, c * ph * pw)


def sincos_positions(length, d):
    """(length, d): sin(i / 10000^(j/d)) on even j, cos(i / 10000^((j-1)/d)) on odd j; computed
    in double with the same libm calls as vit-train, rounded once to float32."""
    table = [[0.0] * d for _ in range(length)]
    for i in range(length):
        for j in range(d):
            angle = i / math.pow(10000.0, (j - j % 2) / d)
            table[i][j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return torch.tensor(table, dtype=torch.float64).float()


class PatchEmbed(nn.Module):
    def __init__(self, n_patches, patch_dim, hidden_d):
        super().__init__()
        self.n_patches = n_patches
        self.linear = nn.Linear(patch_dim, hidden_d)
        self.class_token = nn.Parameter(torch.rand(1, 1, hidden_d))  # U[0,1) as the tutorial

    def forward(self, images):
        tokens = self.linear(patchify(images, self.n_patches))  # (N, P, D)
        cls = self.class_token.expand(tokens.shape[0], -1, -1)  # (N, 1, D)
        return torch.cat([cls, tokens], dim=1)  # (N, 1 + P, D)


class Attention(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        assert dim % n_heads == 0, f"dimension {dim} is not divisible by {n_heads} heads"
        self.n_heads = n_heads
        self.scale = (dim // n_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)  # (N, H, T, T)
        return self.out((weights @ v).transpose(1, 2).reshape(n, t, d))  # (N, T, D)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as torch::gelu's default


class Block(nn.Module):
    def __init__(self, dim, n_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = Attention(dim, n_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio * dim)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """`m`: anything with the model.* keys as attributes (n_patches, hidden_d, n_heads, n_blocks,
    mlp_ratio); `image_shape`: (C, H, W)."""

    def __init__(self, m, image_shape, num_classes=NUM_CLASSES):
        super().__init__()
        c, h, w = image_shape
        n = m.n_patches
        patch_dim = c * -(-h // n) * -(-w // n)
        self.patch_embed = PatchEmbed(n, patch_dim, m.hidden_d)
        self.register_buffer("positions", sincos_positions(1 + n * n, m.hidden_d))
        self.blocks = nn.ModuleList(Block(m.hidden_d, m.n_heads, m.mlp_ratio)
                                    for _ in range(m.n_blocks))
        self.head = nn.Linear(m.hidden_d, num_classes)

    def forward(self, images):
        x = self.patch_embed(images) + self.positions  # (N, T, D)
        for block in self.blocks:
            x = block(x)
        return self.head(x[:, 0])  # class token -> (N, classes) logits


def load(path, device="cpu"):
    """The model of a `vit-eval --export` file, built from its metadata (model.* keys, image
    shape), every tensor loaded strictly, in eval mode. Its metadata: model.metadata."""
    from safetensors import safe_open  # pip install safetensors
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    if "image_shape" not in metadata:
        raise ValueError(f"{path}: no image_shape in its metadata: not a vit-eval --export file")
    shape = tuple(int(x) for x in metadata["image_shape"].split("x"))
    keys = types.SimpleNamespace(**{k.split(".", 1)[1]: int(v) for k, v in metadata.items()
                                    if k.startswith("model.")})
    model = VisionTransformer(keys, shape)
    model.load_state_dict(load_file(path))  # strict: every name and shape must match
    model.metadata = metadata
    return model.to(device).eval()


def to_input(pixels):
    """uint8 pixels (H, W), (N, H, W) or (N, C, H, W), as a tensor or anything torch.as_tensor
    takes (a numpy array), -> float32 (N, C, H, W) in [0, 1]: what the model was trained on."""
    x = torch.as_tensor(pixels)
    if x.dtype != torch.uint8:
        raise TypeError(f"pixels of type {x.dtype}: give uint8 0..255 as the IDX files hold them")
    while x.dim() < 4:
        x = x.unsqueeze(0 if x.dim() < 3 else 1)
    return x.float().div_(255.0)


@torch.no_grad()
def predict(model, pixels):
    """(classes, probabilities): the predicted class of each image and its softmax row."""
    device = next(model.parameters()).device
    probabilities = model(to_input(pixels).to(device)).softmax(dim=1)
    return probabilities.argmax(dim=1), probabilities
