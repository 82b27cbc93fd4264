/**
 * A Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words") for small
 * images: non-overlapping patches, a linear patch embedding, a class token, learned position
 * embeddings, pre-norm TransformerBlocks and a linear head on the class token.
 */
import { ShapeError, type Tensor, ValueError, cat, formatShape, zeros } from '../../index.js';
import { ModuleList } from '../containers.js';
import { Dropout } from '../dropout.js';
import { normal_ } from '../init.js';
import { Linear } from '../linear.js';
import { type FactoryOptions, Module } from '../module.js';
import { LayerNorm } from '../normalization.js';
import { Parameter } from '../parameter.js';
import { TransformerBlock, type TransformerActivation } from '../transformer.js';

/**
 * Cuts images (B, C, H, W), or (B, H, W) with one channel, into non-overlapping square patches
 * and flattens each, returning (B, numPatches, C · patchSize²). Patches come in row-major order
 * over the grid, and each patch is flattened as (channel, row, column).
 */
export function patchify(images: Tensor, patchSize: number): Tensor {
  const input = images.ndim === 3 ? images.unsqueeze(1) : images;
  if (input.ndim !== 4) {
    throw new ShapeError(`patchify: expected images of shape (B, C, H, W) or (B, H, W), got ${formatShape(images.shape)}`);
  }
  const [batch, channels, height, width] = input.shape;
  if (!Number.isInteger(patchSize) || patchSize <= 0 || height % patchSize !== 0 || width % patchSize !== 0) {
    throw new ShapeError(`patchify: patchSize ${patchSize} must be a positive integer dividing the image height ${height} and width ${width}`);
  }
  const rows = height / patchSize;
  const columns = width / patchSize;

  // (B, C, rows, p, columns, p) -> (B, rows, columns, C, p, p): grid dims first, then the patch.
  return input
    .reshape([batch, channels, rows, patchSize, columns, patchSize])
    .permute([0, 2, 4, 1, 3, 5])
    .reshape([batch, rows * columns, channels * patchSize * patchSize]);
}

export interface ViTConfig extends FactoryOptions {
  /** Side of the square input images (default 28). */
  imageSize?: number;
  /** Side of the square patches; must divide imageSize (default 7). */
  patchSize?: number;
  /** Default 1. */
  inChannels?: number;
  /** Default 10. */
  numClasses?: number;
  /** Default 64. */
  dModel?: number;
  /** Default 4; must divide dModel. */
  numHeads?: number;
  /** Default 2. */
  numLayers?: number;
  /** Default 2. */
  mlpRatio?: number;
  /** Default 0. */
  dropout?: number;
  /** Default 'gelu'. */
  activation?: TransformerActivation;
}

export class ViT extends Module {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly inChannels: number;
  readonly numPatches: number;
  cls_token: Parameter;
  pos_embed: Parameter;
  patch_embed: Linear;
  pos_drop: Dropout;
  blocks: ModuleList<TransformerBlock>;
  norm: LayerNorm;
  head: Linear;

  constructor(config: ViTConfig = {}) {
    super();
    const { imageSize = 28, patchSize = 7, inChannels = 1, numClasses = 10, dModel = 64, numHeads = 4, numLayers = 2, mlpRatio = 2, dropout = 0 } = config;
    for (const [name, value] of Object.entries({ imageSize, patchSize, inChannels, numClasses, dModel, numLayers })) {
      if (!Number.isInteger(value) || value <= 0) throw new ValueError(`ViT: ${name} must be a positive integer, got ${value}`);
    }
    if (imageSize % patchSize !== 0) throw new ValueError(`ViT: patchSize ${patchSize} must divide imageSize ${imageSize}`);
    const factory = { dtype: config.dtype, device: config.device, generator: config.generator };

    this.imageSize = imageSize;
    this.patchSize = patchSize;
    this.inChannels = inChannels;
    this.numPatches = (imageSize / patchSize) ** 2;
    const tensorOptions = { dtype: config.dtype, device: config.device };
    this.cls_token = new Parameter(zeros([1, 1, dModel], tensorOptions));
    this.pos_embed = new Parameter(zeros([1, this.numPatches + 1, dModel], tensorOptions));
    this.patch_embed = new Linear(inChannels * patchSize * patchSize, dModel, factory);
    this.pos_drop = new Dropout(dropout);
    const blockOptions = { ...factory, mlpRatio, dropout, activation: config.activation };
    this.blocks = new ModuleList(Array.from({ length: numLayers }, () => new TransformerBlock(dModel, numHeads, blockOptions)));
    this.norm = new LayerNorm(dModel, factory);
    this.head = new Linear(dModel, numClasses, factory);

    // Small random class token and positions, as in the reference ViT code (std 0.02).
    normal_(this.cls_token, 0, 0.02, { generator: config.generator });
    normal_(this.pos_embed, 0, 0.02, { generator: config.generator });
  }

  /** Maps images (B, C, H, W), or (B, H, W) when inChannels is 1, to class logits (B, numClasses). */
  forward(images: Tensor): Tensor {
    const spatial = images.shape.slice(-2);
    const channels = images.ndim === 3 ? 1 : images.shape[1];
    if (spatial[0] !== this.imageSize || spatial[1] !== this.imageSize || channels !== this.inChannels || (images.ndim !== 3 && images.ndim !== 4)) {
      throw new ShapeError(
        `ViT: expected images of shape (B, ${this.inChannels}, ${this.imageSize}, ${this.imageSize})${this.inChannels === 1 ? ` or (B, ${this.imageSize}, ${this.imageSize})` : ''}, got ${formatShape(images.shape)}`,
      );
    }
    const batch = images.shape[0];

    const patches = this.patch_embed.call(patchify(images, this.patchSize));
    const classToken = this.cls_token.expand([batch, 1, this.cls_token.shape[2]]);
    let x = this.pos_drop.call(cat([classToken, patches], 1).add(this.pos_embed));
    for (const block of this.blocks) x = block.call(x);
    return this.head.call(this.norm.call(x).select(1, 0));
  }

  override extraRepr(): string {
    return `image_size=${this.imageSize}, patch_size=${this.patchSize}, in_channels=${this.inChannels}, num_patches=${this.numPatches}`;
  }
}
