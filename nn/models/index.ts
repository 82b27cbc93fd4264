/** Reference models built from the nn modules. */
export { GPT, type GPTConfig, type GenerateOptions } from './gpt.js';
export { ViT, type ViTConfig, patchify } from './vit.js';
