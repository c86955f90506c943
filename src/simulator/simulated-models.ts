/**
 * Model files the simulator pretends to have. The recorded /object_info came from a server with
 * no models, so these names are filled into its combo inputs; they cover the shipped workflows.
 */
export const simulatedModels = {
  checkpoints: ['sd_xl_base_1.0.safetensors', 'flux1-dev-fp8.safetensors', 'v1-5-pruned-emaonly.safetensors'],
  diffusion_models: ['flux1-dev.safetensors'],
  text_encoders: ['clip_l.safetensors', 't5xxl_fp8_e4m3fn.safetensors', 'clip_g.safetensors'],
  vae: ['ae.safetensors', 'sdxl_vae.safetensors'],
  loras: ['nova_style_flux.safetensors', 'nova_style_sdxl.safetensors', 'alex_style_sdxl.safetensors', 'detail_tweaker_xl.safetensors'],
} as const;

/** Combo input name -> the model list it offers (ComfyUI's folder_paths lookups). */
export const modelListByInputName: Record<string, readonly string[]> = {
  ckpt_name: simulatedModels.checkpoints,
  lora_name: simulatedModels.loras,
  unet_name: simulatedModels.diffusion_models,
  clip_name: simulatedModels.text_encoders,
  clip_name1: simulatedModels.text_encoders,
  clip_name2: simulatedModels.text_encoders,
  vae_name: simulatedModels.vae,
};

/** GET /models as recorded (T12); folders not listed in simulatedModels are empty. */
export const modelFolderNames = [
  'checkpoints',
  'configs',
  'loras',
  'vae',
  'text_encoders',
  'diffusion_models',
  'clip_vision',
  'style_models',
  'embeddings',
  'diffusers',
  'vae_approx',
  'controlnet',
  'gligen',
  'upscale_models',
  'custom_nodes',
  'hypernetworks',
  'photomaker',
  'classifiers',
  'model_patches',
  'audio_encoders',
];

export function modelsInFolder(folder: string): string[] | null {
  if (!modelFolderNames.includes(folder)) return null;
  const aliases: Record<string, keyof typeof simulatedModels> = {
    checkpoints: 'checkpoints',
    loras: 'loras',
    vae: 'vae',
    text_encoders: 'text_encoders',
    diffusion_models: 'diffusion_models',
  };
  const key = aliases[folder];
  return key ? [...simulatedModels[key]] : [];
}
