import { createApp } from 'vue';
import App from './App.vue';
import { currentSdk, ringtone, state } from './store';
import './style.css';

createApp(App).mount('#app');

// For the browser console (and the end-to-end tests): the SDK instance and the app's state.
(window as unknown as { opencallDemo: unknown }).opencallDemo = {
  get calling() {
    return currentSdk();
  },
  state,
  ringtone,
};
