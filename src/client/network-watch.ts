// Browsers: drop the socket the moment the network goes (`offline`), reconnect without waiting for the
// backoff when it comes back (`online`). Where there are no such events (Node), there is no watch.

export interface NetworkWatch {
  /** The browser reported no network when the watch began. */
  readonly offlineNow: boolean;
  stop(): void;
}

export function watchNetwork(handlers: { offline(): void; online(): void }): NetworkWatch | undefined {
  const scope = globalThis as unknown as {
    addEventListener?: (type: string, listener: () => void) => void;
    removeEventListener?: (type: string, listener: () => void) => void;
    navigator?: { onLine?: boolean };
  };
  if (typeof scope.addEventListener !== 'function' || typeof scope.navigator?.onLine !== 'boolean') return undefined;
  const offline = () => handlers.offline();
  const online = () => handlers.online();
  scope.addEventListener('offline', offline);
  scope.addEventListener('online', online);
  return {
    offlineNow: scope.navigator.onLine === false,
    stop: () => {
      scope.removeEventListener?.('offline', offline);
      scope.removeEventListener?.('online', online);
    },
  };
}
