import { type K8sObject, podTemplates, selects, type LabelSelector } from './k8s';

/** Something that sends or receives traffic: a pod of a workload, a pod elsewhere, or an address outside. */
export interface Peer {
  name: string;
  /** Pods have a namespace; outside addresses have an ip instead. */
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string;
  /** Ports it listens on (as a destination). */
  ports: { port: number; name?: string; protocol: 'TCP' | 'UDP' }[];
}

interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  peers?: PolicyPeer[];
  ports?: PolicyPort[];
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** IPv4 only; an IPv6 block never matches an IPv4 address. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/') as [string, string];
  const address = ipv4ToInt(ip);
  const network = ipv4ToInt(base);
  if (address === undefined || network === undefined) return false;
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (address & mask) === (network & mask);
}

const namespaceLabels = (namespace: string) => ({ 'kubernetes.io/metadata.name': namespace });

/** NetworkPolicy semantics for policies that live in `namespace`, over the given peers. */
export class NetworkPolicyModel {
  private readonly policies: K8sObject[];

  constructor(
    objects: K8sObject[],
    private readonly namespace: string,
  ) {
    this.policies = objects.filter((o) => o.kind === 'NetworkPolicy' && (o.metadata.namespace ?? namespace) === namespace);
  }

  private matchesPeer(peer: PolicyPeer, target: Peer): boolean {
    if (peer.ipBlock)
      return (
        target.ip !== undefined && inCidr(target.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(target.ip!, c))
      );
    if (target.namespace === undefined) return false;
    if (peer.namespaceSelector)
      return selects(peer.namespaceSelector, namespaceLabels(target.namespace)) && selects(peer.podSelector ?? {}, target.labels);
    return target.namespace === this.namespace && selects(peer.podSelector, target.labels);
  }

  private matchesPort(rulePorts: PolicyPort[] | undefined, port: Peer['ports'][number]): boolean {
    if (!rulePorts || rulePorts.length === 0) return true;
    return rulePorts.some((p) => {
      if ((p.protocol ?? 'TCP') !== port.protocol) return false;
      if (p.port === undefined) return true;
      if (typeof p.port === 'string') return p.port === port.name;
      return p.endPort !== undefined ? port.port >= p.port && port.port <= p.endPort : port.port === p.port;
    });
  }

  private isolated(pod: Peer, direction: 'Ingress' | 'Egress'): K8sObject[] {
    if (pod.namespace !== this.namespace) return [];
    return this.policies.filter((p) => {
      const types: string[] = p.spec.policyTypes ?? (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
      return types.includes(direction) && selects(p.spec.podSelector, pod.labels);
    });
  }

  private allows(policies: K8sObject[], direction: 'Ingress' | 'Egress', other: Peer, port: Peer['ports'][number]): boolean {
    return policies.some((p) => {
      const rules: Rule[] =
        (direction === 'Ingress' ? p.spec.ingress : p.spec.egress)?.map((r: any) => ({
          peers: direction === 'Ingress' ? r.from : r.to,
          ports: r.ports,
        })) ?? [];
      return rules.some(
        (r) =>
          (!r.peers || r.peers.length === 0 || r.peers.some((peer) => this.matchesPeer(peer, other))) && this.matchesPort(r.ports, port),
      );
    });
  }

  /** Can `from` open a connection to `to` on `port`? Pods outside the namespace are not governed here. */
  allowed(from: Peer, to: Peer, port: Peer['ports'][number]): boolean {
    const egress = this.isolated(from, 'Egress');
    if (from.namespace === this.namespace && egress.length && !this.allows(egress, 'Egress', to, port)) return false;
    const ingress = this.isolated(to, 'Ingress');
    if (to.namespace === this.namespace && ingress.length && !this.allows(ingress, 'Ingress', from, port)) return false;
    return true;
  }

  /** Every allowed `from -> to:port/protocol`, over all pairs where at least one side is governed here. */
  edges(peers: Peer[]): string[] {
    const edges: string[] = [];
    for (const from of peers) {
      for (const to of peers) {
        if (from === to || (from.namespace !== this.namespace && to.namespace !== this.namespace)) continue;
        for (const port of to.ports)
          if (this.allowed(from, to, port)) edges.push(`${from.name} -> ${to.name}:${port.port}/${port.protocol}`);
      }
    }
    return edges.sort();
  }
}

/** One peer per workload of the namespace (its pod template's labels and container ports). */
export function workloadPeers(objects: K8sObject[], namespace: string): Peer[] {
  return podTemplates(objects).map(({ owner, template }) => ({
    name: owner.metadata.name,
    namespace,
    labels: template.metadata?.labels ?? {},
    ports: template.spec.containers.flatMap((c: any) =>
      (c.ports ?? []).map((p: any) => ({ port: p.containerPort, name: p.name, protocol: p.protocol ?? 'TCP' })),
    ),
  }));
}
