import path from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './k8s';

/**
 * Schemas come from npm packages only (nothing is downloaded at test time):
 * `kubernetes-models` (the Kubernetes OpenAPI schema), `@kubernetes-models/keda` and
 * `@kubernetes-models/prometheus-operator` (the CRDs' schemas).
 */
function modulePath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${kind}`;
  return `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`;
}

type ModelClass = new (data: unknown) => { validate(): void };

/** Throws with the schema's message when `object` does not validate against its apiVersion/kind. */
export function validateSchema(object: K8sObject): void {
  let Model: ModelClass;
  try {
    Model = require(modulePath(object.apiVersion, object.kind))[object.kind];
  } catch {
    throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  }
  if (typeof Model !== 'function') throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

/**
 * The JSON schemas above accept unknown fields; the API server (strict field validation, the
 * default of `kubectl apply` since 1.27) does not. The packages' type declarations name every
 * field, so a TypeScript type checker walks each object against its declared type and reports
 * any field the type does not have (a typo such as `readinesProbe` would otherwise be dropped).
 */
export class UnknownFieldChecker {
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();

  constructor(kinds: { apiVersion: string; kind: string }[]) {
    const unique = [...new Map(kinds.map((k) => [`${k.apiVersion}/${k.kind}`, k])).values()];
    const file = path.join(__dirname, '__k8s_types__.ts');
    const source = unique
      .map((k, i) => `import type { I${k.kind} as T${i} } from '${modulePath(k.apiVersion, k.kind)}';\nexport type K${i} = T${i};`)
      .join('\n');
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      strict: true,
      skipLibCheck: true,
      noEmit: true,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, lang, ...rest) =>
      name === file ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest);
    host.fileExists = (name) => name === file || fileExists.call(host, name);
    host.readFile = (name) => (name === file ? source : readFile.call(host, name));
    const program = ts.createProgram([file], options, host);
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file);
    if (diagnostics.length)
      throw new Error(`type declarations not found: ${ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n')}`);
    this.checker = program.getTypeChecker();
    const sf = program.getSourceFile(file)!;
    const aliases = sf.statements.filter(ts.isTypeAliasDeclaration);
    unique.forEach((k, i) => this.types.set(`${k.apiVersion}/${k.kind}`, this.checker.getTypeAtLocation(aliases[i]!.name)));
  }

  /** Paths of fields the declared type does not have, e.g. `spec.template.spec.containers[0].readinesProbe`. */
  unknownFields(object: K8sObject): string[] {
    const type = this.types.get(`${object.apiVersion}/${object.kind}`);
    if (!type) throw new Error(`no declared type for ${object.apiVersion} ${object.kind}`);
    const found: string[] = [];
    this.walk(object, type, '', found);
    return found;
  }

  private objectMembers(type: ts.Type): ts.Type[] {
    const members = type.isUnion() ? type.types : [type];
    return members.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)) && (t.flags & ts.TypeFlags.Object) !== 0);
  }

  private walk(value: unknown, type: ts.Type, at: string, found: string[]): void {
    if (value === null || typeof value !== 'object') return;
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    const members = this.objectMembers(type);
    if (members.length === 0) return;
    if (Array.isArray(value)) {
      const arrayType = members.find((t) => this.checker.isArrayType(t));
      if (!arrayType) return;
      const element = this.checker.getTypeArguments(arrayType as ts.TypeReference)[0]!;
      value.forEach((item, i) => this.walk(item, element, `${at}[${i}]`, found));
      return;
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const here = at ? `${at}.${key}` : key;
      let childType: ts.Type | undefined;
      for (const member of members) {
        const property = member.getProperty(key);
        if (property) {
          childType = this.checker.getTypeOfSymbol(property);
          break;
        }
        const index = member.getStringIndexType();
        if (index) {
          childType = index;
          break;
        }
      }
      if (!childType) {
        found.push(here);
        continue;
      }
      this.walk(child, childType, here, found);
    }
  }
}
