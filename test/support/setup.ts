/** Per test file: devices are destroyed and measured accuracy is saved after the file. */
import { afterAll } from 'vitest';
import { destroyDevices, saveAccuracy } from './devices.js';

afterAll(async () => {
  saveAccuracy();
  await destroyDevices();
});
